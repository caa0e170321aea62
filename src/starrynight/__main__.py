from starrynight.cli import main

main()
