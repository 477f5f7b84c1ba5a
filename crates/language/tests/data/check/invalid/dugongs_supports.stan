// Scales and probabilities that can leave their supports.
data {
  int<lower=0> N;
  array[N] real x;
  array[N] real Y;
}
parameters {
  real alpha;
  real beta;
  real lambda;
  real tau;
}
transformed parameters {
  real sigma = 1 / tau;
}
model {
  for (i in 1:N) {
    Y[i] ~ normal(alpha - beta * pow(lambda, x[i]), sigma);
  }
  lambda ~ uniform(0.5, 1);
  tau ~ gamma(0.0001, 0.0001);
  Y ~ lognormal(alpha, beta);
}
