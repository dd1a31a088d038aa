from railway_emulator.cli import main

main()
