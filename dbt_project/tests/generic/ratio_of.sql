{#-
    The column is numerator / denominator (to 4 decimals, as the marts round rates), and null
    when the denominator is 0 or null: attainment is bookings / target, none without a target.
-#}
{% test ratio_of(model, column_name, numerator, denominator) %}

select *
from {{ model }}
where
    case
        when coalesce({{ denominator }}, 0) = 0 then {{ column_name }} is not null
        else {{ column_name }} is null or abs({{ column_name }} - {{ numerator }} / {{ denominator }}) > 0.0001
    end

{% endtest %}
