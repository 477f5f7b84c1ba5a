// family: growth_curve
// given: x=covariate(positive)
// source: after the dugongs model of the BUGS examples (repository example)
data {
  int<lower=0> N;
  array[N] real x;
  array[N] real Y;
}
parameters {
  real alpha;
  real beta;
  real<lower=0.5, upper=1> lambda;
  real<lower=0> sigma;
}
model {
  for (i in 1:N) {
    Y[i] ~ normal(alpha - beta * pow(lambda, x[i]), sigma);
  }
  alpha ~ normal(2.5, 1);
  beta ~ normal(1, 0.5);
  lambda ~ uniform(0.5, 1);
  sigma ~ normal(0, 0.3);
}
