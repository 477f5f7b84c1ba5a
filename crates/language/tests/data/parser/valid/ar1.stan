data {
  int<lower=2> N;
  vector[N] y;
}
parameters {
  real alpha;
  real<lower=-1, upper=1> beta;
  real<lower=0> sigma;
}
model {
  y[2:N] ~ normal(alpha + beta * y[1:(N - 1)], sigma);
  alpha ~ normal(0, 1);
  beta ~ uniform(-1, 1);
  sigma ~ exponential(1);
}
generated quantities {
  real y_next = normal_rng(alpha + beta * y[N], sigma);
}
