// family: survival
// source: written for refinestat
data {
  int<lower=1> N;
  vector[N] x;
  vector<lower=0>[N] t;
}
parameters {
  real alpha;
  real beta;
}
model {
  alpha ~ normal(0, 1);
  beta ~ normal(0, 0.5);
  t ~ exponential(exp(-(alpha + beta * x)));
}
