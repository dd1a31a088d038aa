from infra.ops.cli import main

main()
