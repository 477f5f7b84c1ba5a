// family: conjugate
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0.5, 0.5);
  y ~ normal(alpha + beta * x, 1.5);
}
