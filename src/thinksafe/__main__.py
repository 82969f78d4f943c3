from thinksafe.cli import main

main()
