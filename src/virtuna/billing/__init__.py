"""Plans, quotas and payments: Whop subscriptions decide a user's plan, the plan decides
how many analyses a day and how many scoring requests a minute the user gets."""
