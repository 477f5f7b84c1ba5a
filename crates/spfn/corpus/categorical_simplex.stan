// family: categorical
// given: K=size(2,6)
// source: written for refinestat
data {
  int<lower=1> N;
  int<lower=2> K;
  array[N] int<lower=1, upper=K> y;
}
parameters {
  simplex[K] theta;
}
model {
  y ~ categorical(theta);
}
