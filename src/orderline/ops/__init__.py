"""Operations on AWS: infrastructure as code, IAM, drift and cost, derived from the table specs."""
