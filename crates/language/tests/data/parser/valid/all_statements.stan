data {
  int<lower=0> N;
  vector[N] y;
  array[N] int<lower=0> k;
}
transformed data {
  int total = 0;
  array[3] int idx = {1, 2, 3};
  row_vector[3] rv = [1, 2.5, 3e2];
  vector[3] cv = [1, 2, 3]';
  matrix[2, 2] M = [[1, 0], [0, 1]];
  for (n in 1:N) {
    total += k[n];
    if (total > 100) break;
    else if (total < 0) {
      continue;
    } else {
      ;
    }
  }
  while (total > 0) {
    total -= 1;
  }
  for (v in idx) {
    print("v = ", v);
  }
  if (N < 0) reject("N must be non-negative, got ", N);
}
parameters {
  real mu;
  real<lower=0> sigma;
}
transformed parameters {
  vector[N] eta = mu + rep_vector(0, N);
  eta .*= rep_vector(1, N);
  eta ./= rep_vector(1, N);
  eta *= 2;
  eta /= 2;
}
model {
  y ~ normal(eta, sigma) T[-10, 10];
  y[1] ~ normal(mu, sigma) T[, 10];
  y[2] ~ normal(mu, sigma) T[-10, ];
  target += normal_lpdf(y | mu, sigma);
  target += std_normal_lupdf(mu |);
  {
    real local = target();
    local = local * 2;
  }
}
generated quantities {
  real t = mu > 0 ? 1 : 0;
  int q = 7 %/% 2 + 7 % 2;
  real w = -mu ^ 2 + !(mu == 0) - (+sigma) \ 1.5;
  vector[N] e2 = eta .^ 2;
  real s = y[2:N][1] + y[:2][1] + y[2:][1] + y[:][1] + sum(y[idx]);
  int both = (mu >= 0 && sigma <= 1) || mu != 1;
}
