data {
  int N;
  real y[N];
  int counts[N, 2];
}
parameters {
  real mu;
}
model {
  real z;
  z <- 3;
  # not a comment
  increment_log_prob(normal_log(y, mu, 1));
}
