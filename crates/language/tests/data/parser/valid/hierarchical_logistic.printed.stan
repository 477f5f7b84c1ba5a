data {
    int<lower=1> N;
    int<lower=1> J;
    array[N] int<lower=1, upper=J> group;
    array[N] int<lower=0> trials;
    array[N] int<lower=0> successes;
}

parameters {
    real mu;
    real<lower=0> tau;
    vector<offset=mu, multiplier=tau>[J] eta;
}

model {
    mu ~ normal(0, 1.5);
    tau ~ student_t(3, 0, 1);
    eta ~ normal(mu, tau);
    successes ~ binomial_logit(trials, eta[group]);
}

generated quantities {
    vector[J] p = inv_logit(eta);
}
