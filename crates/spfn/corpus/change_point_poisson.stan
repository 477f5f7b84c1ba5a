// family: change_point
// labels: time=change_point
// source: written for refinestat (the coal-mining disasters model of the Stan user guide)
data {
  int<lower=2> T;
  array[T] int<lower=0> D;
}
parameters {
  real<lower=0> e;
  real<lower=0> l;
  real<lower=1, upper=T> s;
}
model {
  e ~ gamma(4, 1);
  l ~ gamma(2, 1);
  for (t in 1:T) {
    D[t] ~ poisson(t < s ? e : l);
  }
}
