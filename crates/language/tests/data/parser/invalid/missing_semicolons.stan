data {
  int N
  vector[N] y;
}
parameters {
  real mu
}
model {
  y ~ normal(mu, 1)
}
