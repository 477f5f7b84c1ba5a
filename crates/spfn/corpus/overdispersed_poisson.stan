// family: hierarchical_poisson
// labels: observation_effect=true
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> tau;
  vector[N] eps;
}
model {
  alpha ~ normal(1, 1);
  beta ~ normal(0, 0.5);
  tau ~ normal(0, 0.5);
  eps ~ normal(0, tau);
  y ~ poisson_log(alpha + beta * x + eps);
}
