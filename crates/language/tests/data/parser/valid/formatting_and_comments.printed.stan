data {
    int<lower=0> N;
    array[N] real y;
}

parameters {
    real mu;
    real<lower=0> sigma;
}

model {
    mu ~ normal((0), ((10)));
    sigma ~ cauchy(0, 2.5) T[0, ];
    y ~ normal(mu, sigma) T[, 100];
    y ~ normal(mu, sigma);
    target += -0.5 * square((mu - 1) / 2) + 1e-3 - .5E2;
}
