data {
  int N = 3;
  vector y;
  matrix[N] X;
  unit_vector[3] u;
  real<lower=0, offset=1> s;
  real<upper=1, lower=0> t;
  simplex<lower=0>[3] p;
  real for;
  y ~ normal(0, 1);
}
parameters {
  real<lower=0 sigma;
}
model {
  real<lower=0> local;
  simplex[3] th;
}
