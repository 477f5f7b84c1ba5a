// family: compositional
// labels: model=categorical_by_group
// given: K=size(2,5) G=size(2,3)
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=2> K;
  int<lower=1> G;
  array[N] int<lower=1, upper=G> grp;
  array[N] int<lower=1, upper=K> y;
}
parameters {
  array[G] simplex[K] theta;
}
model {
  for (n in 1:N) {
    y[n] ~ categorical(theta[grp[n]]);
  }
}
