"""Voice Lab evaluation: objective metrics, batch runs, reports and listening tests."""
