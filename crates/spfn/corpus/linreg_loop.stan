// family: linear_regression
// source: written for refinestat (loop style of the Stan user guide)
data {
  int<lower=1> N;
  array[N] real x;
  array[N] real y;
}
parameters {
  real a;
  real b;
  real<lower=0> s;
}
model {
  a ~ normal(0, 10);
  b ~ normal(0, 5);
  s ~ cauchy(0, 2.5);
  for (n in 1:N) {
    y[n] ~ normal(a + b * x[n], s);
  }
}
