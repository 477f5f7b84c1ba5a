parameters {
  real mu;
}
model {
  mu ~ normal(0, 5);
  for (m in 1:M) {
    mu ~ normal(0, 5);
  }
  y ~ normal(mu, sigma);
}
