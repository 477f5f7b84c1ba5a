// Annual level of Lake Huron 1875-1972 (R datasets::LakeHuron): linear trend in time with AR(1)
// errors; the first year from the stationary distribution of the errors.
data {
  int<lower=0> N;
  vector[N] time;
  vector[N] value;
}
transformed data {
  vector[N] t = (time - mean(time)) / sd(time);
}
parameters {
  real alpha;
  real beta;
  real<lower=-1, upper=1> phi;
  real<lower=0> sigma;
}
model {
  vector[N] trend = alpha + beta * t;
  vector[N] m;
  vector[N] s;
  m[1] = trend[1];
  s[1] = sigma / sqrt(1 - square(phi));
  for (n in 2:N) {
    m[n] = trend[n] + phi * (value[n - 1] - trend[n - 1]);
    s[n] = sigma;
  }
  alpha ~ normal(579, 10);
  beta ~ normal(0, 5);
  phi ~ normal(0, 0.5);
  sigma ~ student_t(3, 0, 2);
  value ~ normal(m, s);
}
