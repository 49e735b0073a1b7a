from dreamforge_apps.cli import main

main()
