from kejin.cli import main

main()
