-- Collections (回款) per rep x account x month, up to the run date: what fell due, what was
-- collected, and the receivables still open at month end by aging bucket, with DSO.
-- Every balance is taken as of the month's last day, or as of the run date in the run date's
-- month (as_of_date); nothing invoiced or paid after the run date counts.
-- Amounts are in the reporting currency. What an invoice bills, and what is due, collected or
-- outstanding on it, is matched in the invoice's own currency and converted at the invoice
-- date's rate (the receivable's booked value, so a fully paid foreign-currency invoice is 100%
-- collected with no FX residue); cash received in the month is converted at the paid date's
-- rate (fct_payments.amount_reporting).
with

invoices as (

    select * from {{ ref('fct_invoices') }}

),

payments as (

    select * from {{ ref('fct_payments') }}

),

-- the mart's key cannot be null: an invoice without a CRM opportunity has no rep, and a
-- payment on an invoice not (yet) in the warehouse has neither rep nor account
invoices_to_date as (

    select
        invoice_id,
        coalesce(owner_rep_id, 'unknown') as owner_rep_id,
        coalesce(account_id, 'unknown') as account_id,
        invoice_date,
        due_date,
        gross_amount,
        fx_rate_to_reporting,
        least(coalesce(fully_paid_on, {{ get_run_date() }}), {{ get_run_date() }}) as open_until

    from invoices

    where invoice_date <= {{ get_run_date() }}

),

payments_to_date as (

    select
        payment_id,
        invoice_id,
        coalesce(owner_rep_id, 'unknown') as owner_rep_id,
        coalesce(account_id, 'unknown') as account_id,
        paid_on,
        amount,
        amount_reporting

    from payments

    where paid_on <= {{ get_run_date() }}

),

-- cash received: payments by the month they were received in
cash_per_month as (

    select
        owner_rep_id,
        account_id,
        cast(date_trunc('month', paid_on) as date) as month,
        sum(amount_reporting) as cash_received_in_month

    from payments_to_date

    group by
        owner_rep_id,
        account_id,
        cast(date_trunc('month', paid_on) as date)

),

-- amount due: invoices by the month of their due date, with what had been collected on each
-- by the end of that month (or the run date), early payments included, capped at its gross
invoices_due as (

    select
        invoices_to_date.invoice_id,
        invoices_to_date.owner_rep_id,
        invoices_to_date.account_id,
        invoices_to_date.gross_amount,
        invoices_to_date.fx_rate_to_reporting,
        cast(date_trunc('month', invoices_to_date.due_date) as date) as month,
        {{ month_as_of_date('invoices_to_date.due_date') }} as as_of_date

    from invoices_to_date

    where invoices_to_date.due_date <= {{ get_run_date() }}

),

-- receivables: each invoice at the end of every month from its invoice month until it is paid
-- in full (or the run date's month)
invoice_month_ends as (

    select
        invoices_to_date.invoice_id,
        invoices_to_date.owner_rep_id,
        invoices_to_date.account_id,
        invoices_to_date.due_date,
        invoices_to_date.gross_amount,
        invoices_to_date.fx_rate_to_reporting,
        cast(month_series.month_start as date) as month,
        {{ month_as_of_date('month_series.month_start') }} as as_of_date

    from invoices_to_date

    cross join lateral generate_series(
        date_trunc('month', invoices_to_date.invoice_date),
        date_trunc('month', invoices_to_date.open_until),
        interval '1 month'
    ) as month_series (month_start)

),

-- what had been paid on each invoice by each as-of date the mart needs: the end of its due
-- month (collection rate) and every month end while it was open (receivables)
invoice_as_of_dates as (

    select invoice_id, as_of_date from invoices_due
    union
    select invoice_id, as_of_date from invoice_month_ends

),

invoice_paid_as_of as (

    select
        invoice_as_of_dates.invoice_id,
        invoice_as_of_dates.as_of_date,
        coalesce(sum(payments_to_date.amount), 0) as paid_amount

    from invoice_as_of_dates

    left join payments_to_date
        on
            invoice_as_of_dates.invoice_id = payments_to_date.invoice_id
            and invoice_as_of_dates.as_of_date >= payments_to_date.paid_on

    group by
        invoice_as_of_dates.invoice_id,
        invoice_as_of_dates.as_of_date

),

invoices_due_collected as (

    select
        invoices_due.invoice_id,
        invoices_due.owner_rep_id,
        invoices_due.account_id,
        invoices_due.month,
        round(invoices_due.gross_amount * invoices_due.fx_rate_to_reporting, 2) as gross_amount,
        round(
            least(invoice_paid_as_of.paid_amount, invoices_due.gross_amount)
            * invoices_due.fx_rate_to_reporting,
            2
        ) as collected_amount

    from invoices_due

    inner join invoice_paid_as_of
        on
            invoices_due.invoice_id = invoice_paid_as_of.invoice_id
            and invoices_due.as_of_date = invoice_paid_as_of.as_of_date

),

due_per_month as (

    select
        owner_rep_id,
        account_id,
        month,
        sum(gross_amount) as amount_due_in_month,
        sum(collected_amount) as amount_due_collected

    from invoices_due_collected

    group by
        owner_rep_id,
        account_id,
        month

),

invoice_balances as (

    select
        invoice_month_ends.invoice_id,
        invoice_month_ends.owner_rep_id,
        invoice_month_ends.account_id,
        invoice_month_ends.month,
        invoice_month_ends.as_of_date - invoice_month_ends.due_date as days_overdue,
        -- an overpayment is a credit of the customer, not a negative receivable
        round(
            greatest(invoice_month_ends.gross_amount - invoice_paid_as_of.paid_amount, 0)
            * invoice_month_ends.fx_rate_to_reporting,
            2
        ) as outstanding_amount

    from invoice_month_ends

    inner join invoice_paid_as_of
        on
            invoice_month_ends.invoice_id = invoice_paid_as_of.invoice_id
            and invoice_month_ends.as_of_date = invoice_paid_as_of.as_of_date

),

balances_per_month as (

    select
        owner_rep_id,
        account_id,
        month,
        sum(outstanding_amount) as outstanding_at_month_end,
        sum(outstanding_amount) filter (
            where days_overdue is null or days_overdue <= 0
        ) as not_yet_due,
        sum(outstanding_amount) filter (where days_overdue between 1 and 30) as overdue_0_30,
        sum(outstanding_amount) filter (where days_overdue between 31 and 60) as overdue_31_60,
        sum(outstanding_amount) filter (where days_overdue between 61 and 90) as overdue_61_90,
        sum(outstanding_amount) filter (where days_overdue > 90) as overdue_90_plus

    from invoice_balances

    where outstanding_amount > 0

    group by
        owner_rep_id,
        account_id,
        month

),

-- DSO denominator: gross invoiced in the 90 days ending on the as-of date. An invoice counts
-- in the months whose as-of date is 0 to 89 days after its invoice date.
invoice_trailing_months as (

    select
        invoices_to_date.owner_rep_id,
        invoices_to_date.account_id,
        invoices_to_date.invoice_date,
        round(invoices_to_date.gross_amount * invoices_to_date.fx_rate_to_reporting, 2)
            as gross_amount,
        cast(month_series.month_start as date) as month,
        {{ month_as_of_date('month_series.month_start') }} as as_of_date

    from invoices_to_date

    cross join lateral generate_series(
        date_trunc('month', invoices_to_date.invoice_date),
        date_trunc('month', least(invoices_to_date.invoice_date + 89, {{ get_run_date() }})),
        interval '1 month'
    ) as month_series (month_start)

),

invoiced_per_month as (

    select
        owner_rep_id,
        account_id,
        month,
        sum(gross_amount) as invoiced_trailing_90_days

    from invoice_trailing_months

    where invoice_date > as_of_date - 90

    group by
        owner_rep_id,
        account_id,
        month

),

-- the rows: every rep x account x month with an amount due, a payment received, a
-- receivable open at month end or an invoice issued in the trailing 90 days, so that sums
-- over a month (per rep, company-wide) miss nothing
spine as (

    select owner_rep_id, account_id, month from cash_per_month
    union
    select owner_rep_id, account_id, month from due_per_month
    union
    select owner_rep_id, account_id, month from balances_per_month
    union
    select owner_rep_id, account_id, month from invoiced_per_month

),

spine_as_of as (

    select
        owner_rep_id,
        account_id,
        month,
        {{ month_as_of_date('month') }} as as_of_date

    from spine

),

joined as (

    select
        spine_as_of.owner_rep_id,
        spine_as_of.account_id,
        spine_as_of.month,
        spine_as_of.as_of_date,
        coalesce(due_per_month.amount_due_in_month, 0) as amount_due_in_month,
        coalesce(due_per_month.amount_due_collected, 0) as amount_due_collected,
        coalesce(cash_per_month.cash_received_in_month, 0) as cash_received_in_month,
        coalesce(balances_per_month.outstanding_at_month_end, 0) as outstanding_at_month_end,
        coalesce(balances_per_month.not_yet_due, 0) as not_yet_due,
        coalesce(balances_per_month.overdue_0_30, 0) as overdue_0_30,
        coalesce(balances_per_month.overdue_31_60, 0) as overdue_31_60,
        coalesce(balances_per_month.overdue_61_90, 0) as overdue_61_90,
        coalesce(balances_per_month.overdue_90_plus, 0) as overdue_90_plus,
        coalesce(invoiced_per_month.invoiced_trailing_90_days, 0) as invoiced_trailing_90_days

    from spine_as_of

    left join due_per_month
        on
            spine_as_of.owner_rep_id = due_per_month.owner_rep_id
            and spine_as_of.account_id = due_per_month.account_id
            and spine_as_of.month = due_per_month.month

    left join cash_per_month
        on
            spine_as_of.owner_rep_id = cash_per_month.owner_rep_id
            and spine_as_of.account_id = cash_per_month.account_id
            and spine_as_of.month = cash_per_month.month

    left join balances_per_month
        on
            spine_as_of.owner_rep_id = balances_per_month.owner_rep_id
            and spine_as_of.account_id = balances_per_month.account_id
            and spine_as_of.month = balances_per_month.month

    left join invoiced_per_month
        on
            spine_as_of.owner_rep_id = invoiced_per_month.owner_rep_id
            and spine_as_of.account_id = invoiced_per_month.account_id
            and spine_as_of.month = invoiced_per_month.month

),

final as (

    select
        cast(owner_rep_id as text) as owner_rep_id,
        cast(account_id as text) as account_id,
        cast(month as date) as month,
        cast(as_of_date as date) as as_of_date,
        cast('{{ reporting_currency() }}' as text) as reporting_currency,
        cast(amount_due_in_month as numeric(18, 2)) as amount_due_in_month,
        cast(amount_due_collected as numeric(18, 2)) as amount_due_collected,
        cast(cash_received_in_month as numeric(18, 2)) as cash_received_in_month,
        cast(
            amount_due_collected / nullif(amount_due_in_month, 0) as numeric(9, 4)
        ) as collection_rate,
        cast(outstanding_at_month_end as numeric(18, 2)) as outstanding_at_month_end,
        cast(not_yet_due as numeric(18, 2)) as not_yet_due,
        cast(overdue_0_30 as numeric(18, 2)) as overdue_0_30,
        cast(overdue_31_60 as numeric(18, 2)) as overdue_31_60,
        cast(overdue_61_90 as numeric(18, 2)) as overdue_61_90,
        cast(overdue_90_plus as numeric(18, 2)) as overdue_90_plus,
        cast(invoiced_trailing_90_days as numeric(18, 2)) as invoiced_trailing_90_days,
        cast(
            outstanding_at_month_end / nullif(invoiced_trailing_90_days, 0) * 90
            as numeric(12, 2)
        ) as dso

    from joined

)

select * from final
