"""Messages to citizens: which case events call for one (stages), their words (templates), the outbox written
in the case's transaction (outbox), the gateways that deliver them (gateways) and the sender (send).
docs/messages.md explains them to analysts and operators."""
