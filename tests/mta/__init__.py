"""End-to-end tests against real mail servers (marker ``mta``); see docs/mta-tests.md."""
