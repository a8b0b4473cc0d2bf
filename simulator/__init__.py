"""Local stand-ins for the organisation's tools, speaking their real wire formats, for tests and simulations."""
