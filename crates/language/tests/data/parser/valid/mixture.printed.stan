data {
    int<lower=1> N;
    vector[N] y;
}

parameters {
    ordered[2] mu;
    array[2] real<lower=0> sigma;
    real<lower=0, upper=1> lambda;
}

model {
    sigma ~ lognormal(0, 2);
    mu ~ normal(0, 10);
    lambda ~ beta(5, 5);
    for (n in 1:N) target += log_mix(lambda, normal_lpdf(y[n] | mu[1], sigma[1]), normal_lpdf(y[n] | mu[2], sigma[2]));
}

generated quantities {
    vector[N] log_lik;
    for (n in 1:N) {
        log_lik[n] = log_sum_exp(log(lambda) + normal_lpdf(y[n] | mu[1], sigma[1]), log1m(lambda) + normal_lpdf(y[n] | mu[2], sigma[2]));
    }
}
