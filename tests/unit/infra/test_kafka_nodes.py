"""The local cluster's layout: ports, folders, quorum and replication per node count."""

from pathlib import Path

from fashion_pubsub.infra.kafka import address
from fashion_pubsub.infra.kafka_node import cluster_nodes
from fashion_pubsub.settings import InfraSettings, read_properties


def properties(text: str, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "server.properties"
    path.write_text(text)
    return read_properties(path)


def test_one_node_keeps_its_folder_and_forms_its_quorum_alone(tmp_path: Path) -> None:
    (node,) = cluster_nodes(InfraSettings(state_dir=tmp_path))
    config = properties(node.server_properties(), tmp_path)
    assert node.home == tmp_path / "kafka" and node.address == "127.0.0.1:9092"
    assert config["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["min.insync.replicas"] == "1"
    # one thread each, not Kafka's 3 and 8: fewer wake-ups on a small machine
    assert (config["num.network.threads"], config["num.io.threads"]) == ("1", "1")


def test_three_nodes_have_own_ports_and_folders_and_replicate_internal_topics(
    tmp_path: Path,
) -> None:
    settings = InfraSettings(state_dir=tmp_path, kafka_nodes=3)
    nodes = cluster_nodes(settings)
    assert [n.address for n in nodes] == ["127.0.0.1:9092", "127.0.0.1:9094", "127.0.0.1:9096"]
    assert [n.controller_port for n in nodes] == [9093, 9095, 9097]
    assert len({n.home for n in nodes}) == 3
    assert address(settings) == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    for node in nodes:
        config = properties(node.server_properties(), tmp_path)
        assert config["node.id"] == str(node.node_id)
        assert config["controller.quorum.voters"] == (
            "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
        )
        assert config["transaction.state.log.replication.factor"] == "3"
        assert config["transaction.state.log.min.isr"] == "2"
        assert config["default.replication.factor"] == "3"


def test_nodes_written_to_the_state_folder_are_found_again(tmp_path: Path) -> None:
    settings = InfraSettings(state_dir=tmp_path, kafka_nodes=3, kafka_port=20000)
    for node in cluster_nodes(settings):
        node.home.mkdir(parents=True)
        node.config_path.write_text(node.server_properties())
    found = cluster_nodes(InfraSettings(state_dir=tmp_path), discover=True)
    assert [(n.node_id, n.port) for n in found] == [(1, 20000), (2, 20002), (3, 20004)]
