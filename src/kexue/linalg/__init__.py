"""Part I: linear algebra."""
