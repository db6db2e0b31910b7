//! Platform automations through plugins: resolve the asset and accounts, open remote sessions with the session engine, run a method, record the result.
