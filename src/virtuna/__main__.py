from virtuna.cli.app import main

main()
