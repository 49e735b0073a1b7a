from dreamforge_apps.cli.main import main

main()
