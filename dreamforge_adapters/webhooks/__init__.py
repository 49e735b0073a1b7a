"""Webhook requests over HTTP: the target rules applied after DNS, and one POST per attempt
to the address that was checked."""
