"""Customer subscriptions to Mailchimp audiences, their forms, and the outbox that pushes them."""
