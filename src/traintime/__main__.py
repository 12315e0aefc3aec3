from traintime.cli import main

main()
