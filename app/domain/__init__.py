"""Domain vocabulary: enums and pydantic models of the service spec. Pure."""
