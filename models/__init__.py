"""Model code (plain synchronous scikit-learn) and the shipped model artifacts."""
