from echoic.cli import main

main()
