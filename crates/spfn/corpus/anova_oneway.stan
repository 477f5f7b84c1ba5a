// family: hierarchical_normal
// labels: pooling_kind=none_by_group
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=1> G;
  array[N] int<lower=1, upper=G> grp;
  vector[N] y;
}
parameters {
  vector[G] m;
  real<lower=0> sigma;
}
model {
  m ~ normal(0, 5);
  sigma ~ normal(0, 2);
  y ~ normal(m[grp], sigma);
}
