// Stopping distance of 50 cars given speed (R datasets::cars): simple linear regression.
data {
  int<lower=0> N;
  vector[N] speed;
  vector[N] dist;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 50);
  beta ~ normal(0, 10);
  sigma ~ student_t(3, 0, 20);
  dist ~ normal(alpha + beta * speed, sigma);
}
