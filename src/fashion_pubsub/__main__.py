from fashion_pubsub.cli import main

main()
