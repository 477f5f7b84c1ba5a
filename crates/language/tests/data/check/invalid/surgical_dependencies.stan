// Names used before they exist, assignments to data and parameters, a draw in the model block.
data {
  int<lower=0> N;
  array[N] int<lower=0> r;
  array[N] int<lower=0> n;
}
parameters {
  real mu;
  real<lower=0> sigmasq;
  vector[N] b;
}
model {
  N = 12;
  mu = 0;
  sigma ~ normal(0, 1);
  b ~ normal(mu, sqrt(sigmasq));
  real draw = normal_rng(0, 1);
  r ~ binomial_logit(n, b + p_hat);
}
generated quantities {
  vector[N] p_hat = inv_logit(b);
}
