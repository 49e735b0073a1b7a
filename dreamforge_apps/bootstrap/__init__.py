"""The composition of every deployment, with dependency-injector.

`UseCases` (`use_cases.py`) wires the use cases once; each deployment's container provides
their ports and the lifetimes of what it opens (`providers.Resource`): `Embedded` for
`dreamforge serve`, `StackApi` and `StackWorker` for the stack's two processes, over the
`StackPorts` they share. `lifecycle.start` opens a container's resources and `lifecycle.stop`
closes them, users before what they use.

Nothing is imported here: an admin command that opens one database imports only that.
"""
