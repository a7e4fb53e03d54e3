"""In-memory fakes of the services' repositories, for unit tests of their use cases."""
