parameters {
  real mu;
  vector[J] theta;
}
model {
  mu ~ normal(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}
