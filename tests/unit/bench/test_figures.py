"""The machine a bench's figures name."""

from pathlib import Path

from fashion_pubsub.bench.figures import cpu_model, machine


def test_the_cpu_is_named_as_the_kernel_lists_it(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\n"
        "model name\t: AMD EPYC\nflags\t\t: fpu vme\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n"
    )
    assert cpu_model(cpuinfo) == "AMD EPYC"


def test_a_cpu_list_without_a_name_or_no_list_at_all_says_unknown(tmp_path: Path) -> None:
    no_name = tmp_path / "cpuinfo"
    no_name.write_bytes(b"processor\t: 0\nmodel name\t:   \nCPU part\t: 0xd0c\n\xff\xfe\n")
    assert cpu_model(no_name) == "unknown"
    assert cpu_model(tmp_path / "absent") == "unknown"


def test_every_bench_record_names_its_cpu(tmp_path: Path) -> None:
    assert machine(tmp_path)["cpu"] == cpu_model()
