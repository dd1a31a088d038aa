"""ACS infrastructure: config models -> components -> dynamic providers -> Railway client."""
